// The auth service's environment, parsed once at start-up into a frozen, typed object.
import { z } from 'zod';
import { commonEnv, csv, loadConfig, port, postgresUrl } from '@securevault/service-kit';

export const authEnv = {
  ...commonEnv,
  PORT: port(8081),
  DATABASE_URL: postgresUrl(),
  // HMAC key for session tokens and API keys; normally mounted as SESSION_SECRET_FILE.
  SESSION_SECRET: z.string().min(32),
  SESSION_TTL_SECONDS: z.coerce
    .number()
    .int()
    .min(60)
    .max(30 * 24 * 3600)
    .default(3600),
  SESSION_IDLE_SECONDS: z.coerce
    .number()
    .int()
    .min(60)
    .max(30 * 24 * 3600)
    .default(1800),
  // Registering with one of these addresses yields an admin: how the first admin is created.
  ADMIN_EMAILS: csv().transform((emails) => emails.map((e) => e.toLowerCase())),
  DB_POOL_MAX: z.coerce.number().int().min(1).max(100).default(10),
};

export type AuthConfig = ReturnType<typeof loadAuthConfig>;

export function loadAuthConfig(env: NodeJS.ProcessEnv = process.env) {
  return loadConfig(authEnv, env);
}

/** The subset the migration Job and the admin CLI need: no session secret required there. */
export function loadDatabaseConfig(env: NodeJS.ProcessEnv = process.env) {
  return loadConfig({ LOG_LEVEL: commonEnv.LOG_LEVEL, DATABASE_URL: postgresUrl() }, env);
}
