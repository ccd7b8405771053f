/**
 * A hostile HTML message for the tests of the message view (issue 15, the archive): every way an
 * HTML body tries to run script, phone home or leave its frame, each aimed at a tracker (an HTTP
 * server on loopback the test starts, counting every request it gets).
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';

/** A loopback HTTP server that records every request it receives. */
export interface Tracker {
  port: number;
  /** `METHOD url` of every request received so far. */
  requests: string[];
  close(): Promise<void>;
}

/** Starts a {@link Tracker} on a free loopback port. */
export async function startTracker(): Promise<Tracker> {
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('tracked');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** The word the hostile HTML renders harmlessly (what a test looks for in the frame). */
export const HOSTILE_VISIBLE_WORD = 'Pelicanfeather';

/** The HTML body of {@link hostileHtmlMessage}: scripts, event handlers, a form, a refresh, remote loads. */
export function hostileHtml(trackerPort: number): string {
  const t = `http://127.0.0.1:${trackerPort}`;
  return [
    '<!DOCTYPE html>',
    '<html><head>',
    `<meta http-equiv="refresh" content="0;url=${t}/refresh">`,
    `<link rel="stylesheet" href="${t}/x.css">`,
    `<style>body { background: url(${t}/bg); } p.note { color: #235; } @import url(${t}/import.css);</style>`,
    '<script>alert(1)</script>',
    '</head>',
    '<body onload="alert(3)">',
    `<p class="note" id="harmless">${HOSTILE_VISIBLE_WORD} says hello.</p>`,
    `<img src="${t}/pixel.png" alt="pixel">`,
    '<img onerror="alert(2)" src="x">',
    `<div style="background-image: url(${t}/inline-bg)">styled</div>`,
    `<form id="hostile-form" action="${t}/post" method="post"><input name="a" value="b"><button id="go">go</button></form>`,
    `<iframe src="${t}/frame"></iframe>`,
    '<a id="js-link" href="javascript:alert(4)">click me</a>',
    `<video src="${t}/video.mp4" autoplay></video>`,
    '</body></html>',
  ].join('\r\n');
}

/** A multipart/alternative message: a plain text part and {@link hostileHtml} as its HTML part. */
export function hostileHtmlMessage(trackerPort: number, subject = 'Hostile newsletter'): Buffer {
  const b = `alt${randomBytes(6).toString('hex')}`;
  return Buffer.from(
    [
      'From: "Mallory Sender" <mallory@example.test>',
      'To: victim@example.test',
      `Subject: ${subject}`,
      'Date: Wed, 03 Dec 2025 09:30:00 +0000',
      `Message-ID: <${randomBytes(8).toString('hex')}@hostile.mailsluice.invalid>`,
      'MIME-Version: 1.0',
      `Content-Type: multipart/alternative; boundary="${b}"`,
      '',
      `--${b}`,
      'Content-Type: text/plain; charset=utf-8',
      '',
      `The ${HOSTILE_VISIBLE_WORD} newsletter, as plain text.`,
      `--${b}`,
      'Content-Type: text/html; charset=utf-8',
      '',
      hostileHtml(trackerPort),
      `--${b}--`,
      '',
    ].join('\r\n'),
  );
}
