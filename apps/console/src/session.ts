// Who is signed in, as GET /api/auth/me answers it.
import { createContext, useContext } from 'react';

export interface User {
  id: string;
  email: string;
  role: 'admin' | 'member';
  createdAt: string;
}

export interface Me {
  user: User;
  principal: { type: 'session' | 'apikey'; scopes: string[] };
}

export const SessionContext = createContext<Me | undefined>(undefined);

export function useMe(): Me {
  const me = useContext(SessionContext);
  if (!me) throw new Error('useMe outside a signed-in page');
  return me;
}

export function hasScope(me: Me, scope: string): boolean {
  return me.principal.scopes.includes(scope);
}

export function isAdmin(me: Me): boolean {
  return me.user.role === 'admin' && hasScope(me, 'admin');
}
