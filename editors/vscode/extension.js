// Starts `nndc lsp` (the command is the setting nnd.server.command) and
// connects it to .nnd files over stdio.
const vscode = require("vscode");
const { LanguageClient } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const [command, ...args] = vscode.workspace.getConfiguration("nnd").get("server.command", ["nndc", "lsp"]);
  const server = { command, args };
  client = new LanguageClient("nnd", "nnd language server", { run: server, debug: server }, {
    documentSelector: [{ scheme: "file", language: "nnd" }, { scheme: "untitled", language: "nnd" }],
  });
  client.start();
  context.subscriptions.push({ dispose: () => client && client.stop() });
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
