// One run of a Node work queue peer with no-op jobs, in a process of its own (run by
// tests/bench/bench_queue_peers.py with the Node of this machine and .bench/node):
//
//   node node_queues.js bullmq|bull REDIS_URL JOBS CONCURRENCY
//
// Enqueues JOBS jobs with addBulk (a batch, as our enqueue_many), then one worker in this
// process runs them CONCURRENCY at once, keeping no completed job.
// Prints {"enqueue": jobs/s, "process": jobs/s}.
const path = require("path");
const modules = path.join(process.cwd(), ".bench", "node", "node_modules");
const [peer, url, jobsText, widthText] = process.argv.slice(2);
const jobs = Number(jobsText);
const width = Number(widthText);
const name = `bench-${peer}-${Math.random().toString(16).slice(2, 10)}`;

function seconds(started) {
  return Number(process.hrtime.bigint() - started) / 1e9;
}

async function bullmq() {
  const { Queue, Worker } = require(path.join(modules, "bullmq"));
  const parsed = new URL(url);
  const connection = { host: parsed.hostname, port: Number(parsed.port || 6379), db: Number(parsed.pathname.slice(1) || 0) };
  const queue = new Queue(name, { connection });
  const batch = Array.from({ length: jobs }, (_, i) => ({ name: "noop", data: { i }, opts: { removeOnComplete: true } }));
  let started = process.hrtime.bigint();
  for (let i = 0; i < batch.length; i += 1000) await queue.addBulk(batch.slice(i, i + 1000));
  const enqueue = jobs / seconds(started);
  let done = 0;
  let finish;
  const finished = new Promise((resolve) => (finish = resolve));
  started = process.hrtime.bigint();
  const worker = new Worker(name, async () => {}, { connection, concurrency: width, removeOnComplete: { count: 0 } });
  worker.on("completed", () => { if (++done === jobs) finish(); });
  await finished;
  const processed = jobs / seconds(started);
  await worker.close();
  await queue.obliterate({ force: true });
  await queue.close();
  return [enqueue, processed];
}

async function bull() {
  const Queue = require(path.join(modules, "bull"));
  const queue = new Queue(name, url);
  const batch = Array.from({ length: jobs }, (_, i) => ({ data: { i }, opts: { removeOnComplete: true } }));
  let started = process.hrtime.bigint();
  for (let i = 0; i < batch.length; i += 1000) await queue.addBulk(batch.slice(i, i + 1000));
  const enqueue = jobs / seconds(started);
  let done = 0;
  let finish;
  const finished = new Promise((resolve) => (finish = resolve));
  started = process.hrtime.bigint();
  queue.on("completed", () => { if (++done === jobs) finish(); });
  queue.process(width, async () => {});
  await finished;
  const processed = jobs / seconds(started);
  await queue.obliterate({ force: true });
  await queue.close();
  return [enqueue, processed];
}

({ bullmq, bull })[peer]().then(([enqueue, processed]) => {
  console.log(JSON.stringify({ enqueue, process: processed }));
  process.exit(0);
}, (error) => { console.error(error); process.exit(1); });
