/** Alert rules checked and their state kept, pure (issue 14, item 6; ADR 0026). */
export { AlertBook, conditionKey, ruleSettings, type AlertBookSnapshot, type AlertEntrySnapshot, type AlertRulesChange, type AlertEvent, type AlertNotification, type AlertSend, type AlertState } from './alert-book.js';
export { alertMailBytes, alertMailText, type MailStamp } from './alert-mail.js';
export { checkRule, RunnerMemory, type AlertReadings, type AlertRule, type Finding, type RunnerMemorySnapshot, type RunnerReading } from './alert-conditions.js';
