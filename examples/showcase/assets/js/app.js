// The showcase's browser entry point, bundled by `npm run build` into dist/app.js
// (served at /assets/app.js, loaded by the root layout on every page). It connects
// the npm LiveView client to the server's /live socket; on pages without a
// LiveView (no [data-phx-session] element) it joins nothing.
import {Socket} from "phoenix"
import {LiveSocket} from "phoenix_live_view"

// The socket's connect params: the server checks _csrf_token against the session
// cookie the page was rendered with (a failed check makes every join "stale").
const csrfToken = document.querySelector("meta[name='csrf-token']")?.getAttribute("content")
const liveSocket = new LiveSocket("/live", Socket, {
  params: {_csrf_token: csrfToken},
  longPollFallbackMs: 2500, // long-poll when no WebSocket is up within 2.5 s
})
liveSocket.connect()

// For the browser console and the tests: liveSocket.enableDebug(), liveSocket.version()...
window.liveSocket = liveSocket
