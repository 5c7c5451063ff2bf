// The official JavaScript client's KiteTicker against the sandbox: node ticker_probe.js API_KEY TOKEN ROOT MODE
// Prints one JSON line: the ticks it decoded in MODE, the order updates it heard, and errors.
const { KiteTicker } = require("kiteconnect");

const [apiKey, accessToken, root, mode] = process.argv.slice(2);
const seen = { ticks: [], orders: [], errors: [] };
const ticker = new KiteTicker({ api_key: apiKey, access_token: accessToken, root: root, reconnect: false });

function finish() {
  console.log(JSON.stringify(seen));
  process.exit(0);
}

ticker.on("connect", () => {
  ticker.subscribe([408065, 256265]);
  ticker.setMode(mode, [408065, 256265]);
});
ticker.on("ticks", (ticks) => {
  seen.ticks.push(...ticks.filter((tick) => tick.mode === mode));
});
ticker.on("order_update", (order) => {
  seen.orders.push(order);
  if (order.status === "COMPLETE") finish();
});
ticker.on("error", (error) => seen.errors.push(String(error && error.message ? error.message : error)));
setTimeout(finish, 12000);
ticker.connect();
