// Every auth migration, listed statically so source and built output run the same set.
import type { Migration } from 'kysely';
import * as init from './2026_11_21_0001_init.ts';

export const migrations: Record<string, Migration> = {
  '2026_11_21_0001_init': init,
};
