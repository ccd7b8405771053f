/**
 * One archived message (`#/archive/<archiveId>`): its headers (and the journal envelope of an
 * unwrapped journal report), the text body as preformatted text, the HTML body in a frame, the
 * attachments to download, and the original `.eml`.
 *
 * The HTML body is anyone's who can mail the journal mailbox. It is never put into this page:
 * the frame loads it from `GET …/html`, which serves it under its own policy (`sandbox`, nothing
 * loaded from anywhere), and the frame itself is `sandbox=""` (no script, no form, no popup, no
 * navigation of this page, an opaque origin without this page's cookie) and sends no Referer.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { sessionEnded } from './api.js';
import { attachmentLink, getMessage, htmlUrl, rawUrl, type ArchivedMessage, type MessageContent } from './api-archive.js';
import { s } from './archive-strings.js';
import { addressText, sizeText } from './archive-text.js';
import { dateTime, failureText } from './i18n.js';
import { href } from './router.js';

function Header(props: { id: string; label: string; value: string }) {
  if (!props.value) return null;
  return (
    <>
      <dt>{props.label}</dt>
      <dd data-header={props.id}>{props.value}</dd>
    </>
  );
}

function Headers(props: { c: MessageContent }) {
  const c = props.c;
  const list = (a: MessageContent['to']): string => a.map(addressText).join(', ');
  return (
    <section aria-labelledby="message-headers-title">
      <h2 id="message-headers-title">{s('headers')}</h2>
      <dl class="headers">
        <Header id="from" label={s('from')} value={c.from ? addressText(c.from) : ''} />
        <Header id="to" label={s('to')} value={list(c.to)} />
        <Header id="cc" label={s('cc')} value={list(c.cc)} />
        <Header id="bcc" label={s('bcc')} value={list(c.bcc)} />
        <Header id="subject" label={s('subject')} value={c.subject} />
        <Header id="date" label={s('date')} value={c.date ? dateTime(c.date) : ''} />
        <Header id="message-id" label={s('messageId')} value={c.messageId ? `<${c.messageId}>` : ''} />
      </dl>
      {c.journal && (
        <>
          <h3>{s('journal')}</h3>
          <dl class="headers journal">
            <Header id="journal-sender" label={s('journalSender')} value={c.journal.sender} />
            <Header id="journal-recipients" label={s('journalRecipients')} value={c.journal.recipients.map((r) => `${r.address} (${r.kind})`).join(', ')} />
            <Header id="journal-on-behalf-of" label={s('onBehalfOf')} value={c.journal.onBehalfOf ?? ''} />
          </dl>
        </>
      )}
    </section>
  );
}

function Bodies(props: { archiveId: string; c: MessageContent }) {
  return (
    <>
      <section aria-labelledby="message-text-title">
        <h2 id="message-text-title">{s('textBody')}</h2>
        {props.c.textBody ? (
          <pre id="message-text" class="message-text" tabIndex={0}>
            {props.c.textBody}
          </pre>
        ) : (
          <p>{s('noText')}</p>
        )}
      </section>
      {props.c.htmlBody && (
        <section aria-labelledby="message-html-title">
          <h2 id="message-html-title">{s('htmlBody')}</h2>
          <p class="help">{s('htmlNote')}</p>
          <iframe id="message-html" class="message-html" sandbox="" src={htmlUrl(props.archiveId)} referrerpolicy="no-referrer" title={s('htmlFrame')} />
        </section>
      )}
    </>
  );
}

function Attachments(props: { m: ArchivedMessage }) {
  const m = props.m;
  return (
    <section aria-labelledby="message-attachments-title">
      <h2 id="message-attachments-title">{s('attachments')}</h2>
      {!m.parsed && <p>{s('notParsed')}</p>}
      {m.parsed && m.attachments.length === 0 && <p>{s('noAttachments')}</p>}
      {m.attachments.length > 0 && (
        <ul class="attachments">
          {m.attachments.map((a) => (
            <li key={a.sha256} data-sha256={a.sha256}>
              <a class="attachment" href={attachmentLink(a.url)} download={a.name || 'attachment'}>
                {a.name || a.sha256.slice(0, 12)}
              </a>{' '}
              <span class="sub">
                {a.contentType}, {sizeText(a.size)}
              </span>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

/** The message view; `back` is the search's link (the results it was opened from). */
export function MessageView(props: { archiveId: string; back: string; onSessionEnded: () => void }) {
  const [m, setM] = useState<ArchivedMessage | null>(null);
  const [error, setError] = useState<string | null>(null);
  const title = useRef<HTMLHeadingElement>(null);

  // Opened from a link that is gone now: the focus goes to the message's title, where a screen
  // reader starts reading and the Tab key goes on from.
  useEffect(() => {
    if (m) title.current?.focus();
  }, [m]);

  useEffect(() => {
    let current = true;
    setM(null);
    setError(null);
    getMessage(props.archiveId).then(
      (x) => current && setM(x),
      (err: unknown) => {
        if (!current) return;
        if (sessionEnded(err)) props.onSessionEnded();
        else setError(failureText(err));
      },
    );
    return () => {
      current = false;
    };
  }, [props.archiveId]);

  const c = m?.content ?? null;
  return (
    <article class="message-view" aria-labelledby="message-title" data-archive-id={props.archiveId}>
      <p>
        <a id="back-to-results" href={props.back}>
          ← {s('backToResults')}
        </a>
      </p>
      <h1 id="message-title" tabIndex={-1} ref={title}>{c ? c.subject.trim() || s('noSubject') : s('messageTitle')}</h1>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {m && (
        <>
          <p class="message-actions">
            <a id="message-raw" href={rawUrl(m.archiveId)} download={`${m.archiveId}.eml`}>
              {s('raw')}
            </a>{' '}
            <span class="sub">{sizeText(m.size)}</span>
          </p>
          {m.holds.length > 0 && (
            <p id="message-holds" class="notice" role="status">
              {s('heldBy')}{' '}
              {m.holds.map((h, i) => (
                <span key={h}>
                  {i > 0 && ', '}
                  <a class="hold" href={href('holds', h)}>
                    {h}
                  </a>
                </span>
              ))}
            </p>
          )}
          {!c && <p>{s('noContent')}</p>}
          {c?.parseError && (
            <p class="notice" role="status">
              {s('parseError')} ({c.parseError})
            </p>
          )}
          {c && <Headers c={c} />}
          {c && <Bodies archiveId={m.archiveId} c={c} />}
          <Attachments m={m} />
        </>
      )}
    </article>
  );
}
