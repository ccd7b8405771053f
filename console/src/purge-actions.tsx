/**
 * The Retention page's admin part: Preview (a dry run, `POST /api/v1/archive/purge` with
 * `dryRun`, optionally as of a date picked: 00:00 UTC that day) listing what would go, and
 * Purge now behind the console's confirm dialog (Cancel focused first: it loses data unseen),
 * then the purge's report. A failure shows the catalogue's sentence; a 401 ends the session.
 */
import { useState } from 'preact/hooks';
import { sessionEnded } from './api.js';
import { purgeArchive, type PurgeReport } from './api-retention.js';
import { ConfirmDialog } from './confirm-dialog.js';
import { failureText } from './i18n.js';
import { PurgeFigures, PurgeItems } from './purge-report.js';
import { rs } from './retention-strings.js';

/** What the admin part runs: a preview or the purge. */
type Running = 'preview' | 'purge' | null;

/** The form: the date, Preview and Purge now. */
function PurgeForm(props: { running: Running; onPreview: (asOf: string) => void; onPurge: () => void }) {
  const [asOf, setAsOf] = useState('');
  return (
    <form
      id="purge-form"
      class="purge-form"
      onSubmit={(e) => {
        e.preventDefault();
        props.onPreview(asOf);
      }}
    >
      <p class="help">{rs('actionsHelp')}</p>
      <div class="field">
        <label for="purge-as-of">{rs('asOfField')}</label>
        <input id="purge-as-of" name="asOf" type="date" value={asOf} onInput={(e) => setAsOf(e.currentTarget.value)} />
      </div>
      <div class="buttons">
        <button type="submit" id="purge-preview" disabled={props.running !== null}>
          {props.running === 'preview' ? rs('previewing') : rs('preview')}
        </button>
        <button type="button" id="purge-now" class="danger" disabled={props.running !== null} onClick={props.onPurge}>
          {props.running === 'purge' ? rs('purging') : rs('purgeNow')}
        </button>
      </div>
    </form>
  );
}

/** Preview and Purge now, with the last answer's report below; `onPurged` after a purge (the page reads the view again). */
export function PurgeActions(props: { onPurged: () => void; onSessionEnded: () => void }) {
  const [running, setRunning] = useState<Running>(null);
  const [confirming, setConfirming] = useState(false);
  const [report, setReport] = useState<PurgeReport | null>(null);
  const [error, setError] = useState<string | null>(null);

  const run = async (kind: 'preview' | 'purge', asOf?: string): Promise<void> => {
    setConfirming(false);
    setRunning(kind);
    setError(null);
    setReport(null);
    try {
      const body = kind === 'preview' ? { dryRun: true, ...(asOf ? { asOf: `${asOf}T00:00:00Z` } : {}) } : { dryRun: false };
      setReport(await purgeArchive(body));
      if (kind === 'purge') props.onPurged();
    } catch (err) {
      if (sessionEnded(err)) return props.onSessionEnded();
      setError(failureText(err));
    } finally {
      setRunning(null);
    }
  };

  return (
    <section class="card wide purge-actions" aria-labelledby="purge-title">
      <h2 id="purge-title">{rs('actionsTitle')}</h2>
      <PurgeForm running={running} onPreview={(asOf) => void run('preview', asOf)} onPurge={() => setConfirming(true)} />
      {error && (
        <p id="purge-error" class="error" role="alert">
          {error}
        </p>
      )}
      {report && (
        <div id="purge-result" data-dry-run={report.dryRun ? 'true' : 'false'}>
          <div aria-live="polite">
            <h3>{report.dryRun ? rs('previewTitle') : rs('resultTitle')}</h3>
            <PurgeFigures id="purge-result-figures" report={report} />
          </div>
          <PurgeItems report={report} />
        </div>
      )}
      <ConfirmDialog
        open={confirming}
        id="purge-dialog"
        title={rs('confirmTitle')}
        text={rs('confirmText')}
        confirmLabel={rs('confirm')}
        cancelLabel={rs('cancel')}
        focus="cancel"
        onConfirm={() => void run('purge')}
        onCancel={() => setConfirming(false)}
      />
    </section>
  );
}
