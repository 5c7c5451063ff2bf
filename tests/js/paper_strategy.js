// A small strategy on a paper client, with the official JavaScript client through Kite App's gateway:
// node paper_strategy.js API_KEY ACCESS_TOKEN ROOT
// Buys 2 INFY (MIS) at the market, sells 1, each once the one before is complete; prints one JSON
// line: the order ids, and the orders, trades and positions read back.
const { KiteConnect } = require("kiteconnect");

const [apiKey, accessToken, root] = process.argv.slice(2);
const kite = new KiteConnect({ api_key: apiKey, access_token: accessToken, root: root });
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function complete(orderId) {
  for (let i = 0; i < 200; i++) {
    const history = await kite.getOrderHistory(orderId);
    if (history[history.length - 1].status === "COMPLETE") return;
    await sleep(50);
  }
  throw new Error(`order ${orderId} did not complete`);
}

(async () => {
  const order = { exchange: "NSE", tradingsymbol: "INFY", product: "MIS", order_type: "MARKET", market_protection: -1 };
  const buy = await kite.placeOrder("regular", { ...order, transaction_type: "BUY", quantity: 2 });
  await complete(buy.order_id);
  const sell = await kite.placeOrder("regular", { ...order, transaction_type: "SELL", quantity: 1 });
  await complete(sell.order_id);
  const seen = {
    ids: [buy.order_id, sell.order_id],
    orders: await kite.getOrders(),
    trades: await kite.getTrades(),
    positions: await kite.getPositions(),
  };
  console.log(JSON.stringify(seen));
})().catch((error) => {
  console.log(JSON.stringify({ error: String(error.message || error) }));
  process.exit(1);
});
