// The OpenAI-compatible model stand-in as a long-running process, for the compose stack of `make monitoring-up`.
import { startModelStandin } from '@securevault/testing';

const port = Number(process.env.MODEL_STANDIN_PORT ?? '8090');
// 0.0.0.0 by default: in compose the ai-worker reaches it over the container network.
const host = process.env.MODEL_STANDIN_HOST ?? '0.0.0.0';

const model = await startModelStandin({ port, host });
process.stdout.write(`model stand-in listening on ${model.baseUrl}\n`);

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    void model.close().then(() => process.exit(0));
  });
}
