/**
 * The Audit page's integrity panel: Verify chain (`GET /api/v1/audit/verify`, optionally with
 * the archive files) and its verdict, and for an admin the move of old records to the archive
 * files (`POST /api/v1/audit/prune`) behind a confirmation, since it takes them out of the list.
 */
import { useState } from 'preact/hooks';
import { sessionEnded } from './api.js';
import { ConfirmDialog } from './confirm-dialog.js';
import { pruneAudit, verifyAudit, type AuditVerdict } from './api-audit.js';
import { s } from './audit-strings.js';
import { dateTime, failureText, num } from './i18n.js';

type Outcome<T> = { state: 'idle' } | { state: 'busy' } | { state: 'done'; value: T } | { state: 'failed'; error: string };

function Verdict(props: { v: AuditVerdict }) {
  const v = props.v;
  return (
    <div id="audit-verdict" data-ok={String(v.ok)}>
      <p role="status" class={v.ok ? 'ok' : 'error'}>
        {v.ok ? s('chainOk') : s('chainBroken')}
      </p>
      <dl class="audit-meta">
        {v.ok && v.records !== undefined && (
          <div>
            <dt>{s('recordsVerified')}</dt>
            <dd id="audit-verified">{num(v.records)}</dd>
          </div>
        )}
        {!v.ok && v.seq !== undefined && (
          <div>
            <dt>{s('firstBad')}</dt>
            <dd>№ {num(v.seq)}</dd>
          </div>
        )}
        {v.problem && (
          <div>
            <dt>{s('problem')}</dt>
            <dd>{v.problem}</dd>
          </div>
        )}
        {v.file && (
          <div>
            <dt>{s('file')}</dt>
            <dd>{v.file}</dd>
          </div>
        )}
        {v.checkpoint && (
          <div>
            <dt>{s('checkpoint')}</dt>
            <dd>
              {v.checkpoint.file} (№ ≤ {num(v.checkpoint.seq)})
            </dd>
          </div>
        )}
        {v.archive && (
          <div>
            <dt>{s('archiveFiles')}</dt>
            <dd>{num(v.archive.files)}</dd>
          </div>
        )}
      </dl>
    </div>
  );
}

/** Verify chain, for everyone who sees the page (auditor and admin). */
export function VerifyPanel(props: { onSessionEnded: () => void }) {
  const [withArchive, setWithArchive] = useState(false);
  const [out, setOut] = useState<Outcome<AuditVerdict>>({ state: 'idle' });
  const verify = async (): Promise<void> => {
    setOut({ state: 'busy' });
    try {
      setOut({ state: 'done', value: await verifyAudit(withArchive) });
    } catch (err) {
      if (sessionEnded(err)) return props.onSessionEnded();
      setOut({ state: 'failed', error: failureText(err) });
    }
  };
  return (
    <section class="card wide audit-panel" aria-labelledby="audit-verify-title">
      <h2 id="audit-verify-title">{s('verifyTitle')}</h2>
      <p class="help">{s('verifyHelp')}</p>
      <div class="audit-check">
        <input id="audit-with-archive" type="checkbox" checked={withArchive} onChange={(e) => setWithArchive((e.currentTarget as HTMLInputElement).checked)} />
        <label for="audit-with-archive">{s('withArchive')}</label>
      </div>
      <button type="button" id="audit-verify" onClick={verify} disabled={out.state === 'busy'}>
        {out.state === 'busy' ? s('verifying') : s('verify')}
      </button>
      {out.state === 'done' && <Verdict v={out.value} />}
      {out.state === 'failed' && (
        <p id="audit-verify-error" class="error" role="alert">
          {out.error}
        </p>
      )}
    </section>
  );
}

interface PruneReport {
  keepDays: number;
  cutoff: string;
  moved: number;
}

/** The move of old records (admin): a number of days, then a confirmation, then what was moved. */
export function PrunePanel(props: { onSessionEnded: () => void; onPruned: () => void }) {
  const [days, setDays] = useState('');
  const [confirming, setConfirming] = useState(false);
  const [out, setOut] = useState<Outcome<PruneReport>>({ state: 'idle' });
  const invalid = days !== '' && !/^[1-9][0-9]{0,4}$/.test(days);
  const prune = async (): Promise<void> => {
    setConfirming(false);
    setOut({ state: 'busy' });
    try {
      const report = (await pruneAudit(days ? Number(days) : undefined)) as unknown as PruneReport;
      setOut({ state: 'done', value: report });
      props.onPruned();
    } catch (err) {
      if (sessionEnded(err)) return props.onSessionEnded();
      setOut({ state: 'failed', error: failureText(err) });
    }
  };
  return (
    <section class="card wide audit-panel" aria-labelledby="audit-prune-title">
      <h2 id="audit-prune-title">{s('pruneTitle')}</h2>
      <p class="help" id="audit-prune-help">
        {s('pruneHelp')}
      </p>
      <label for="audit-keep-days">{s('keepDays')}</label>
      <input
        id="audit-keep-days"
        type="text"
        inputMode="numeric"
        value={days}
        aria-describedby="audit-prune-help"
        aria-invalid={invalid ? 'true' : undefined}
        onInput={(e) => setDays((e.currentTarget as HTMLInputElement).value.trim())}
      />
      <button type="button" id="audit-prune" disabled={invalid || out.state === 'busy' || confirming} onClick={() => setConfirming(true)}>
        {out.state === 'busy' ? s('pruning') : s('prune')}
      </button>
      <ConfirmDialog
        open={confirming}
        id="audit-prune-confirm"
        confirmId="audit-prune-yes"
        cancelId="audit-prune-cancel"
        focus="cancel"
        title={s('pruneConfirm')}
        cancelLabel={s('cancel')}
        confirmLabel={s('pruneYes')}
        onCancel={() => setConfirming(false)}
        onConfirm={() => void prune()}
      />
      {out.state === 'done' && (
        <p id="audit-pruned" role="status" class="ok" data-moved={out.value.moved}>
          {s('pruned')}: {num(out.value.moved)} ({s('cutoff')} {dateTime(out.value.cutoff)})
        </p>
      )}
      {out.state === 'failed' && (
        <p id="audit-prune-error" class="error" role="alert">
          {out.error}
        </p>
      )}
    </section>
  );
}
