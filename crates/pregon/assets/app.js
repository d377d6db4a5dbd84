// The console's entry module, loaded by every page (templates/base.html). It wires the
// behaviours that pages ask for with data-* attributes; no page has inline script.
// - [data-api-url]: call the API (api.js), asking first when data-confirm is set;
// - form[data-confirm]: ask before submitting (confirm.js);
// - [data-live-source]: follow an event stream (live.js);
// - form[data-api-form]: send a form to the API as JSON (forms.js);
// - form[data-preview-url], [data-test-url], [data-provider-switch]: the templates and
//   senders pages' behaviours (catalog.js).

import { wireApiActions } from "./api.js";
import { wireConfirm } from "./confirm.js";
import { wireApiForms } from "./forms.js";
import { wireLive } from "./live.js";
import { wireCatalog } from "./catalog.js";

wireConfirm(document);
wireApiActions(document);
wireApiForms(document);
wireLive(document);
wireCatalog(document);
