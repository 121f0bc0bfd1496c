// Starts what every browser test shares: one Redis and two server instances
// (A and B) on it, as the platform runs behind a load balancer. Tests find
// them through the environment variables set here.

import { startInstance, startRedis } from "./processes";

export default async function globalSetup() {
  const redis = await startRedis();
  const redisUrl = `redis://127.0.0.1:${redis.port}`;
  const a = await startInstance("a", { REDIS_URL: redisUrl });
  const b = await startInstance("b", { REDIS_URL: redisUrl });

  process.env.REDIS_PORT = String(redis.port);
  process.env.INSTANCE_A = a.url;
  process.env.INSTANCE_B = b.url;

  return async () => {
    for (const child of [a.process, b.process, redis.process]) {
      child.kill("SIGTERM");
    }
  };
}
