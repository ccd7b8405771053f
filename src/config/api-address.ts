/**
 * The two addresses of the `api` section, checked strictly: `listen` (where the API binds) and
 * `publicUrl` (how receivers reach it). Shared by the schema, which reports the problems with
 * their key path, and the loader, which turns valid text into the values the app uses. Pure: the
 * WHATWG URL parser (a global) validates host names and IP literals, so no `node:` module is
 * needed here.
 */

/** A parsed `api.listen`: the host as `listen()` takes it (IPv6 without brackets) and the port. */
export interface ListenAddress {
  host: string;
  port: number;
}

/** `host:port` of a listen address as an operator writes it (IPv6 in brackets). */
export function formatListenAddress(a: ListenAddress): string {
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

/** Whether a listen host accepts connections on every interface (then no public URL can be derived). */
export function isWildcardHost(host: string): boolean {
  return host === '0.0.0.0' || host === '::';
}

/**
 * Whether a listen host is reachable from this machine only: `localhost`, 127.0.0.0/8 or `::1`
 * (also as an IPv4-mapped address). Anything else, a wildcard or a host name included, may be
 * reached from the network and needs TLS or an explicit `insecure` (ADR 0028).
 */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase();
  if (h === 'localhost' || h === '::1' || h === '0:0:0:0:0:0:0:1') return true;
  // The URL parser writes an IPv4-mapped address in hex: ::ffff:127.0.0.1 is ::ffff:7f00:1.
  if (/^::ffff:7f[0-9a-f]{2}:[0-9a-f]{1,4}$/.test(h)) return true;
  const v4 = /^(?:::ffff:)?(\d+)\.\d+\.\d+\.\d+$/.exec(h);
  return v4 !== null && v4[1] === '127';
}

/**
 * Parses `host:port` (`[ipv6]:port`). Returns the address, or the sentence that says what is
 * wrong: written into `config check`'s output after the key path, so it names the fix.
 */
export function parseListenAddress(text: string): ListenAddress | string {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) return `must be host:port without a protocol prefix (write 127.0.0.1:8025, not ${text})`;
  const m = /^(\[[^\]]*\]|[^:[\]]*):([^:]*)$/.exec(text);
  if (!m) {
    // Two or more colons outside brackets: an IPv6 address written bare.
    if ((text.match(/:/g) ?? []).length > 1 && !text.startsWith('[')) return 'an IPv6 address goes in brackets: [::1]:8025';
    return 'must be host:port, e.g. 127.0.0.1:8025';
  }
  const hostText = m[1]!;
  const portText = m[2]!;
  if (hostText === '' || hostText === '[]') return 'names no host: write host:port, e.g. 127.0.0.1:8025';
  if (!/^\d{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535) {
    return `port must be a whole number from 1 to 65535, not ${JSON.stringify(portText)}`;
  }
  let url: URL;
  try {
    url = new URL(`http://${hostText}/`);
  } catch {
    return `${JSON.stringify(hostText)} is not a host name or IP address`;
  }
  // The URL parser drops what a host cannot carry; anything it moved elsewhere was not a host.
  if (url.pathname !== '/' || url.username !== '' || url.search !== '' || url.hash !== '' || url.port !== '') return `${JSON.stringify(hostText)} is not a host name or IP address`;
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  return { host, port: Number(portText) };
}

/**
 * Checks a public base URL: http(s), no credentials, query or fragment. Returns it without a
 * trailing slash (paths are appended to it), or the sentence that says what is wrong.
 */
export function parsePublicUrl(text: string): string | { problem: string } {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return { problem: `must be an http(s) URL such as https://mailsluice.example.com, not ${JSON.stringify(text)}` };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return { problem: `must be an http:// or https:// URL, not ${url.protocol}` };
  if (url.username !== '' || url.password !== '') return { problem: 'must not carry a user name or password: receivers are given these URLs' };
  if (url.search !== '' || url.hash !== '' || text.includes('?') || text.includes('#')) return { problem: 'must not have a query (?…) or fragment (#…): the signed URLs are built by appending a path to it' };
  return url.href.replace(/\/+$/, '');
}
