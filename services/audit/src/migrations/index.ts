// Every audit migration, listed in code so the source and the built output run the same set.
import type { Migration } from 'kysely';
import * as init from './2026_11_21_0001_init.ts';
import * as chain from './2026_11_21_0100_chain.ts';

export const migrations: Record<string, Migration> = {
  '2026_11_21_0001_init': init,
  '2026_11_21_0100_chain': chain,
};
