// Drives the real @jitsu/sdk-js (Node transport) against an eventsite server.
// Usage: node send_events.js <tracking_host> <token>; NODE_PATH points at the installed SDK.
const { jitsuClient } = require("@jitsu/sdk-js");

const [trackingHost, key] = process.argv.slice(2);
// max_send_attempts: 1 makes each call send at once and resolve when the server answered.
const client = jitsuClient({ key, tracking_host: trackingHost, max_send_attempts: 1, log_level: "WARN" });

let failures = 0;
const original = client.postHandle.bind(client);
client.postHandle = (status, body) => {
  if (status !== 200) failures += 1;
  return original(status, body);
};

(async () => {
  await client.id({ id: "user-42", email: "Ann@Example.com" });
  await client.track("purchase", { amount: 12, currency: "EUR" });
  await client.track("page_view", { page: "/pricing" });
  if (failures) throw new Error(`${failures} request(s) were not answered 200`);
  console.log("sent 3 events");
})().catch((error) => {
  console.error(error);
  process.exit(1);
});
