/**
 * The console's one confirmation before something that cannot be undone (delete a connection or
 * a route, move audit records): a native modal `<dialog>`, so the focus moves into it and stays
 * there, Escape cancels, the page behind is inert, and the focus goes back where it was.
 */
import { useLayoutEffect, useRef } from 'preact/hooks';
import type { ComponentChildren } from 'preact';

/** What a confirmation shows and which of its buttons has the focus first. */
export interface ConfirmDialogProps {
  open: boolean;
  /** The dialog's id; its buttons are `<id>-confirm` and `<id>-cancel` unless named. */
  id: string;
  title: ComponentChildren;
  text?: ComponentChildren;
  confirmLabel: string;
  cancelLabel: string;
  confirmId?: string;
  cancelId?: string;
  /** The button focused when it opens: cancel for what loses data unseen, confirm where the page already said what goes. */
  focus: 'confirm' | 'cancel';
  busy?: boolean;
  onConfirm: () => void;
  onCancel: () => void;
}

/** A modal confirmation; open while `open`, closed by its buttons or Escape (which calls `onCancel`). */
export function ConfirmDialog(props: ConfirmDialogProps) {
  const dialog = useRef<HTMLDialogElement>(null);
  const back = useRef<HTMLElement | null>(null);
  const confirmId = props.confirmId ?? `${props.id}-confirm`;
  const cancelId = props.cancelId ?? `${props.id}-cancel`;

  // In the same commit as the render: the dialog is open or closed as soon as the page shows the state.
  useLayoutEffect(() => {
    const d = dialog.current;
    if (!d) return;
    if (props.open && !d.open) {
      back.current = document.activeElement as HTMLElement | null;
      d.showModal();
      document.getElementById(props.focus === 'confirm' ? confirmId : cancelId)?.focus();
    } else if (!props.open && d.open) {
      d.close();
    }
  }, [props.open]);

  return (
    <dialog
      ref={dialog}
      id={props.id}
      class="confirm"
      aria-labelledby={`${props.id}-title`}
      aria-describedby={props.text ? `${props.id}-text` : undefined}
      onClose={() => {
        back.current?.focus();
        if (props.open) props.onCancel();
      }}
    >
      <h2 id={`${props.id}-title`}>{props.title}</h2>
      {props.text && <p id={`${props.id}-text`}>{props.text}</p>}
      <p class="buttons">
        <button type="button" id={cancelId} onClick={props.onCancel}>
          {props.cancelLabel}
        </button>{' '}
        <button type="button" id={confirmId} class="danger" disabled={props.busy} onClick={props.onConfirm}>
          {props.confirmLabel}
        </button>
      </p>
    </dialog>
  );
}
