// The state of a button's call to the API: its error as a sentence, cleared when the next one starts.
import { useCallback, useState } from 'react';
import { messageOf } from '../api.ts';

export interface Action {
  error: string | undefined;
  /** Runs `call`; true when it succeeded, false when its error is now in `error`. */
  run: (call: () => Promise<unknown>) => Promise<boolean>;
}

export function useAction(): Action {
  const [error, setError] = useState<string>();
  const run = useCallback(async (call: () => Promise<unknown>) => {
    setError(undefined);
    try {
      await call();
      return true;
    } catch (err) {
      setError(messageOf(err));
      return false;
    }
  }, []);
  return { error, run };
}
