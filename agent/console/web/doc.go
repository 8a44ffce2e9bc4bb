// Package web is the console's browser side: the page served at
// /console/{token} (index.html, console.js, console.css) and the terminal
// it runs, xterm.js with its fit addon, embedded in the binary.
//
// The terminal's files are not in git: make build runs deploy/web/fetch,
// which extracts them into dist/ from the npm tarballs package-lock.json
// pins (integrity-checked, cached by hash, so builds work offline). A
// plain `go build` without them still compiles (dist/README.txt keeps the
// embed pattern matching); the page then says the assets were not built.
//
// The page speaks the console WebSocket protocol of agent/console
// (docs in the README's console section): JSON text frames for control
// (hello, writer, status, error; resize from the page), binary frames for
// the terminal's bytes both ways. It reconnects with the last hello's
// reconnect token (backoff 1, 2, 4, 8, 10 s), and stops for good on a
// status "stopped" or an error (close code 4403), saying why.
//
// No inline script: the page is served with a strict
// Content-Security-Policy (CSP) and reads its token from a data attribute.
// For tests, window.xenagentTerm is the xterm Terminal and
// window.xenagentConsole the page's state.
package web
