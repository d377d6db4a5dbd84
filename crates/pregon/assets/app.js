// The console's entry module, loaded by every page (templates/base.html). It wires the
// behaviours that pages ask for with data-* attributes; no page has inline script.
// - [data-api-url]: call the API (api.js), asking first when data-confirm is set;
// - form[data-confirm]: ask before submitting (confirm.js);
// - [data-live-source]: follow an event stream (live.js).

import { wireApiActions } from "./api.js";
import { wireConfirm } from "./confirm.js";
import { wireLive } from "./live.js";

wireConfirm(document);
wireApiActions(document);
wireLive(document);
