// The official JavaScript client through Kite App's gateway, with a gateway client's credentials:
// node gateway_probe.js API_KEY ACCESS_TOKEN ROOT INSTRUMENT_TOKEN FROM TO   (FROM, TO: the candles' hour)
// Prints one JSON line: for each call, what it answered (or its error).
const { KiteConnect } = require("kiteconnect");
const { recorder } = require("./recorder");

const [apiKey, accessToken, root, instrumentToken, from, to] = process.argv.slice(2);
const kite = new KiteConnect({ api_key: apiKey, access_token: accessToken, root: root });
const { seen, call } = recorder();

(async () => {
  await call("getProfile", () => kite.getProfile());
  await call("getLTP", () => kite.getLTP(["NSE:INFY"]));
  const candles = await call("getHistoricalData", () =>
    kite.getHistoricalData(instrumentToken, "minute", from, to)
  );
  seen.getHistoricalData = { data: { count: candles.length } };
  const instruments = await call("getInstruments", () => kite.getInstruments(["NSE"]));
  seen.getInstruments = { data: { count: instruments.length, first: instruments[0].tradingsymbol } };
  const order = { exchange: "NSE", tradingsymbol: "INFY", transaction_type: "BUY", product: "CNC" };
  Object.assign(order, { order_type: "LIMIT", quantity: 1, price: 1400 });
  const placed = await call("placeOrder", () => kite.placeOrder("regular", order));
  await call("modifyOrder", () => kite.modifyOrder("regular", placed.order_id, { price: 1401 }));
  await call("cancelOrder", () => kite.cancelOrder("regular", placed.order_id));
  const history = await call("getOrderHistory", () => kite.getOrderHistory(placed.order_id));
  seen.getOrderHistory = { data: history[history.length - 1] };
  const legs = [{ transaction_type: "BUY", quantity: 1, price: 1451, order_type: "LIMIT", product: "CNC" }];
  const gtt = { trigger_type: "single", tradingsymbol: "INFY", exchange: "NSE", last_price: 1500, orders: legs };
  const trigger = await call("placeGTT", () => kite.placeGTT({ ...gtt, trigger_values: [1450] }));
  await call("deleteGTT", () => kite.deleteGTT(trigger.trigger_id));
  await call("orderMargins", () => kite.orderMargins([{ ...order, variety: "regular" }]));
  await call("generateSession", () => kite.generateSession("some-request-token", "some-secret"));
  console.log(JSON.stringify(seen));
})();
