// The official JavaScript client's calls beyond orders and quotes, against the sandbox:
// node calls_probe.js API_KEY TOKEN ROOT OPTION_SYMBOL
// Prints one JSON line: for each call, what it answered (or its error).
const { KiteConnect } = require("kiteconnect");
const { recorder } = require("./recorder");

const [apiKey, accessToken, root, optionSymbol] = process.argv.slice(2);
const kite = new KiteConnect({ api_key: apiKey, access_token: accessToken, root: root });
const { seen, call } = recorder();

(async () => {
  const legs = [{ transaction_type: "BUY", quantity: 1, price: 1451, order_type: "LIMIT", product: "CNC" }];
  const gtt = { trigger_type: "single", tradingsymbol: "INFY", exchange: "NSE", last_price: 1500, orders: legs };
  const placed = await call("placeGTT", () => kite.placeGTT({ ...gtt, trigger_values: [1450] }));
  await call("modifyGTT", () => kite.modifyGTT(placed.trigger_id, { ...gtt, trigger_values: [1440] }));
  await call("getGTT", () => kite.getGTT(placed.trigger_id));
  await call("getGTTs", () => kite.getGTTs());
  await call("deleteGTT", () => kite.deleteGTT(placed.trigger_id));
  const order = { exchange: "NSE", tradingsymbol: "INFY", transaction_type: "BUY", variety: "regular" };
  Object.assign(order, { product: "CNC", order_type: "LIMIT", quantity: 10, price: 1500 });
  await call("orderMargins", () => kite.orderMargins([order]));
  await call("orderBasketMargins", () => kite.orderBasketMargins([order, { ...order, transaction_type: "SELL" }]));
  await call("getvirtualContractNote", () => kite.getvirtualContractNote([{ ...order, average_price: 1500 }]));
  const funds = await call("getMFInstruments", () => kite.getMFInstruments());
  seen.getMFInstruments = { data: { count: funds.length, first: funds[0] } };
  const mf = await call("placeMFOrder", () =>
    kite.placeMFOrder({ tradingsymbol: "INF209K01VH8", transaction_type: "BUY", amount: 5000 })
  );
  await call("getMFOrders", () => kite.getMFOrders());
  await call("cancelMFOrder", () => kite.cancelMFOrder(mf.order_id));
  const sip = await call("placeMFSIP", () =>
    kite.placeMFSIP({ tradingsymbol: "INF209K01VH8", amount: 1000, instalments: 12, frequency: "monthly", instalment_day: 5 })
  );
  await call("modifyMFSIP", () => kite.modifyMFSIP(sip.sip_id, { amount: 2000 }));
  await call("getMFSIPS", () => kite.getMFSIPS());
  await call("cancelMFSIP", () => kite.cancelMFSIP(sip.sip_id));
  await call("getMFHoldings", () => kite.getMFHoldings());
  await call("getAuctionInstruments", () => kite.getAuctionInstruments());
  const option = { exchange: "NFO", tradingsymbol: optionSymbol, transaction_type: "BUY", product: "NRML" };
  Object.assign(option, { order_type: "MARKET", market_protection: -1, quantity: 120 * 65, autoslice: true });
  await call("placeOrder autoslice", () => kite.placeOrder("regular", option));
  console.log(JSON.stringify(seen));
})();
