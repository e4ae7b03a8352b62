// Relays the public /api/auth/* routes to the auth service unchanged: status, JSON body, cookies.
import type { RequestHandler } from 'express';
import { route } from '@securevault/service-kit';
import {
  badGateway,
  callService,
  internalHeaders,
  readText,
  type Downstream,
} from './downstream.ts';

/** End-to-end request headers auth needs; hop-by-hop ones (connection, te, ...) never cross. */
const FORWARD_REQUEST = ['cookie', 'authorization', 'accept', 'accept-language'] as const;
/** Response headers the browser needs back; set-cookie is handled apart (there can be several). */
const FORWARD_RESPONSE = ['retry-after', 'cache-control', 'location', 'www-authenticate'] as const;

export function authRelay(auth: Downstream): RequestHandler {
  return route(async (req, res) => {
    const headers: Record<string, string> = { ...internalHeaders(req) };
    for (const name of FORWARD_REQUEST) {
      const value = req.get(name);
      if (value !== undefined) headers[name] = value;
    }
    let body: string | undefined;
    if (req.method !== 'GET' && req.method !== 'HEAD' && req.body !== undefined) {
      body = JSON.stringify(req.body);
      headers['content-type'] = 'application/json';
    }
    const response = await callService(auth, req.originalUrl, {
      method: req.method,
      headers,
      ...(body ? { body } : {}),
    });
    const text = await readText(auth, response);
    if (text !== '') {
      try {
        JSON.parse(text);
      } catch (err) {
        throw badGateway(auth, err);
      }
    }
    res.status(response.statusCode ?? 502);
    // node:http keeps every Set-Cookie apart (an array) and joins other repeated headers.
    const cookies = response.headers['set-cookie'];
    if (cookies && cookies.length > 0) res.setHeader('Set-Cookie', cookies);
    for (const name of FORWARD_RESPONSE) {
      const value = response.headers[name];
      if (value !== undefined) res.setHeader(name, value);
    }
    if (text === '') {
      res.end();
      return;
    }
    res.type('application/json').send(text);
  });
}
