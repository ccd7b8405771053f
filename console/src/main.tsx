/** The console's entry: renders the app into the page (ADR 0030). */
import { render } from 'preact';
import { App } from './app.js';
import './style.css';

render(<App />, document.getElementById('app')!);
