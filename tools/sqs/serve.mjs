// The local SQS server (fauxqs) bound to one address only.
// fauxqs's own CLI listens on every interface; this listens where it is told, loopback by
// default, so a laptop on a shared network never exposes its queues.
// Usage: node serve.mjs [--host 127.0.0.1] [--port 4566]
import { parseArgs } from "node:util";
import { buildApp } from "fauxqs";

const { values } = parseArgs({
  options: {
    host: { type: "string", default: "127.0.0.1" },
    port: { type: "string", default: "4566" },
  },
});
// No request log: a burst of thousands of messages would flood the terminal of `make run`.
const app = buildApp({ logger: false });
const address = await app.listen({ host: values.host, port: Number(values.port) });
console.log(`fauxqs SQS listening on ${address}`);

for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => {
    app.close().then(() => process.exit(0));
  });
}
