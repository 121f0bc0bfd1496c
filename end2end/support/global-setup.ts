// Starts what every browser test shares: one Redis, a fake OpenAI-compatible
// model server, and two server instances (A and B) on them, as the platform
// runs behind a load balancer. Tests find them through the environment
// variables set here.

import { startFakeModel } from "./fake-model";
import { startInstance, startRedis } from "./processes";

export default async function globalSetup() {
  const redis = await startRedis();
  const model = await startFakeModel();
  const env = {
    REDIS_URL: `redis://127.0.0.1:${redis.port}`,
    OPENAI_API_KEY: "sk-e2e-not-a-real-key",
    OPENAI_BASE_URL: `${model.url}/v1`,
  };
  const a = await startInstance("a", env);
  const b = await startInstance("b", env);

  process.env.REDIS_PORT = String(redis.port);
  process.env.MODEL_URL = model.url;
  process.env.INSTANCE_A = a.url;
  process.env.INSTANCE_B = b.url;

  return async () => {
    for (const child of [a.process, b.process, redis.process]) {
      child.kill("SIGTERM");
    }
    model.server.close();
  };
}
