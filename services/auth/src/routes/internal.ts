// Internal routes for the gateway: token introspection on every authenticated request.
import type { Router } from 'express';
import { IntrospectRequest, type IntrospectResponse } from '@securevault/contracts';
import { route, validate } from '@securevault/service-kit';
import { apiKeyPrincipal, sessionPrincipal } from '../principals.ts';
import type { RouteContext } from './context.ts';

export function internalRoutes(router: Router, ctx: RouteContext): void {
  router.post(
    '/internal/introspect',
    route(async (req, res) => {
      const body = validate(IntrospectRequest, req.body, 'introspection request');
      const principal =
        body.sessionToken !== undefined
          ? await sessionPrincipal(ctx, body.sessionToken)
          : await apiKeyPrincipal(ctx, body.apiKey ?? '');
      const answer: IntrospectResponse = principal
        ? { active: true, principal }
        : { active: false };
      res.json(answer);
    }),
  );
}
