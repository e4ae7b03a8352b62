// Peer for logins/s: raw argon2id verifications per second at the auth service's parameters.
import argon2 from 'argon2';
import { ARGON2_OPTIONS } from '../../services/auth/src/credentials.ts';

/** Verifies for `seconds` with `inFlight` verifications in flight; verifications per second. */
export async function argon2Verifies(options: {
  seconds: number;
  inFlight: number;
}): Promise<number> {
  const password = 'bench correct horse battery';
  const hash = await argon2.hash(password.normalize('NFKC'), ARGON2_OPTIONS);
  let done = 0;
  const started = performance.now();
  const deadline = started + options.seconds * 1000;
  await Promise.all(
    Array.from({ length: options.inFlight }, async () => {
      while (performance.now() < deadline) {
        if (!(await argon2.verify(hash, password.normalize('NFKC'))))
          throw new Error('argon2 verify returned false for the right password');
        done++;
      }
    }),
  );
  return done / ((performance.now() - started) / 1000);
}
