// Passwords (argon2id), session tokens and API keys: generation, hashing and format checks.
import { createHmac, randomBytes } from 'node:crypto';
import argon2 from 'argon2';
import { z } from 'zod';
import { SCOPES, type Role, type Scope } from '@securevault/contracts';
import { isCommonPassword } from './common-passwords.ts';

// OWASP Password Storage Cheat Sheet, argon2id minimum: 19 MiB, 2 iterations, 1 lane.
export const ARGON2_OPTIONS = {
  type: argon2.argon2id,
  memoryCost: 19_456,
  timeCost: 2,
  parallelism: 1,
} as const;

export const PASSWORD_MIN = 8;
export const PASSWORD_MAX = 128;

const codePoints = (s: string) => [...s].length;

/** A new password: 8..128 Unicode code points, never truncated. */
export const NewPassword = z
  .string()
  .refine((p) => codePoints(p) >= PASSWORD_MIN, `must be at least ${PASSWORD_MIN} characters`)
  .refine((p) => codePoints(p) <= PASSWORD_MAX, `must be at most ${PASSWORD_MAX} characters`)
  .refine((p) => !isCommonPassword(p), 'is too common (found in breached-password lists)');

/** A password offered at login: only bounded, so old passwords keep working if the policy changes. */
export const OfferedPassword = z
  .string()
  .min(1, 'is required')
  .refine((p) => codePoints(p) <= PASSWORD_MAX, `must be at most ${PASSWORD_MAX} characters`);

// The same password typed on different systems can arrive composed or decomposed (NIST 800-63B 5.1.1.2).
const normalize = (password: string) => password.normalize('NFKC');

export async function hashPassword(password: string): Promise<string> {
  // argon2 runs on libuv's thread pool, so the event loop keeps serving meanwhile.
  return argon2.hash(normalize(password), ARGON2_OPTIONS);
}

export async function verifyPassword(hash: string, password: string): Promise<boolean> {
  try {
    return await argon2.verify(hash, normalize(password));
  } catch {
    // A malformed stored hash is a failed login, not a 500 that tells the caller something.
    return false;
  }
}

/**
 * A hash of a random password with the real parameters: unknown emails are verified against it
 * so they take as long as known ones and timing does not reveal which emails exist.
 */
export function createDummyHash(): () => Promise<string> {
  let dummy: Promise<string> | undefined;
  return () => (dummy ??= hashPassword(randomBytes(24).toString('base64url')));
}

export function hmac(secret: string, value: string): string {
  return createHmac('sha256', secret).update(value).digest('hex');
}

/** 32 random bytes, base64url: 43 characters. */
export function newSessionToken(): string {
  return randomBytes(32).toString('base64url');
}
export const SESSION_TOKEN = /^[A-Za-z0-9_-]{43}$/;

/** `svk_` + 40 base64url characters (30 random bytes): the prefix lets secret scanners spot leaks. */
export function newApiKey(): string {
  return `svk_${randomBytes(30).toString('base64url')}`;
}
export const API_KEY = /^svk_[A-Za-z0-9_-]{40}$/;
export const API_KEY_PREFIX_LENGTH = 12;

/** What a role may hold: members everything but `admin`, admins everything. */
export function scopesForRole(role: Role): Scope[] {
  return role === 'admin' ? [...SCOPES] : SCOPES.filter((s) => s !== 'admin');
}
