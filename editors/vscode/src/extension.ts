// Starts codestral-lsp and lets VS Code show its answers as inline suggestions (ghost text).
//
// vscode-languageclient 10.1+ asks for `textDocument/inlineCompletion` on its own; VS Code speaks
// utf-16 positions, which the server supports. Settings under `codestral.*` (except the two that say
// how to start the server) go to the server as initializationOptions, and again as
// `workspace/didChangeConfiguration` ({settings: {codestral: ...}}) whenever they change.

import * as vscode from 'vscode';
import {
  DidChangeConfigurationNotification,
  ExecuteCommandRequest,
  LanguageClient,
  LanguageClientOptions,
  ServerOptions,
  TransportKind,
} from 'vscode-languageclient/node';

const SECTION = 'codestral';
// Settings read by this extension to start the server, not sent to it.
const LAUNCH_KEYS = new Set(['serverPath', 'serverArgs']);
// The environment variable the server reads the key from, per provider.
// key variables: made by scripts/settings_table.py from the provider table
const KEY_VARIABLES: Record<string, string> = {
  codestral: 'CODESTRAL_API_KEY',
  mistral: 'MISTRAL_API_KEY',
  langdock: 'LANGDOCK_API_KEY',
  llamacpp: 'LLAMA_API_KEY',
  openai: 'OPENAI_API_KEY',
  tgi: 'HF_TOKEN',
};
// end of key variables
const SECRET = 'codestral.apiKey';
// Settings that decide where the key goes (and which key): package.json scopes them "machine", so
// VS Code ignores a workspace's value; they are also read from the user's own settings only here.
const USER_ONLY = new Set(['provider', 'endpoint', 'region', 'headers', 'caBundle', 'apiKey']);

let client: LanguageClient | undefined;

/** The server's settings: every `codestral.*` value that is set, minus the launch settings. */
function serverSettings(): Record<string, unknown> {
  const config = vscode.workspace.getConfiguration(SECTION);
  // The configuration object carries the section's values as plain properties (methods drop out).
  const values = JSON.parse(JSON.stringify(config)) as Record<string, unknown>;
  const settings: Record<string, unknown> = {};
  for (const [key, merged] of Object.entries(values)) {
    const value = USER_ONLY.has(key) ? config.inspect(key)?.globalValue : merged;
    if (!LAUNCH_KEYS.has(key) && value !== null && value !== undefined) {
      settings[key] = value;
    }
  }
  return settings;
}

async function startClient(context: vscode.ExtensionContext): Promise<void> {
  const config = vscode.workspace.getConfiguration(SECTION);
  const command = config.get<string>('serverPath') || 'codestral-lsp';
  const args = config.get<string[]>('serverArgs') ?? [];

  // A key saved with "Codestral: Set API Key" wins over the environment VS Code was started in.
  const env: Record<string, string | undefined> = { ...process.env };
  const key = await context.secrets.get(SECRET);
  if (key) {
    const provider = config.inspect<string>('provider')?.globalValue ?? 'codestral';
    env[KEY_VARIABLES[provider] ?? 'CODESTRAL_API_KEY'] = key;
  }

  const serverOptions: ServerOptions = {
    command,
    args,
    transport: TransportKind.stdio,
    options: { env },
  };
  const clientOptions: LanguageClientOptions = {
    documentSelector: [{ scheme: 'file' }, { scheme: 'untitled' }],
    initializationOptions: serverSettings(),
    synchronize: { configurationSection: SECTION },
    middleware: {
      workspace: {
        // Send the filtered settings object rather than the raw section.
        didChangeConfiguration: async () => {
          await client?.sendNotification(DidChangeConfigurationNotification.type, {
            settings: { [SECTION]: serverSettings() },
          });
        },
      },
    },
  };
  client = new LanguageClient('codestral', 'Codestral', serverOptions, clientOptions);
  try {
    await client.start();
  } catch (error) {
    void vscode.window.showErrorMessage(
      `Codestral: could not start "${command}" (${String(error)}). ` +
        'Install codestral-lsp or set codestral.serverPath, then run "Codestral: Restart Server".',
    );
  }
}

async function restartClient(context: vscode.ExtensionContext): Promise<void> {
  const old = client;
  client = undefined;
  if (old?.isRunning()) {
    await old.stop();
  }
  await startClient(context);
}

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  context.subscriptions.push(
    vscode.commands.registerCommand('codestral.setApiKey', async () => {
      const key = await vscode.window.showInputBox({
        prompt: 'API key for the configured provider (stored in VS Code secret storage)',
        password: true,
        ignoreFocusOut: true,
      });
      if (key !== undefined) {
        await (key ? context.secrets.store(SECRET, key) : context.secrets.delete(SECRET));
        await restartClient(context);
      }
    }),
    vscode.commands.registerCommand('codestral.restartServer', () => restartClient(context)),
    vscode.commands.registerCommand('codestral.showStats', async () => {
      if (!client?.isRunning()) {
        void vscode.window.showWarningMessage('Codestral: the server is not running.');
        return;
      }
      const stats = await client.sendRequest(ExecuteCommandRequest.type, {
        command: 'codestral.stats',
      });
      client.outputChannel.appendLine(JSON.stringify(stats, null, 2));
      client.outputChannel.show(true);
    }),
    vscode.workspace.onDidChangeConfiguration(async (event) => {
      // How the server is started (or which key variable it reads) changed: start it again.
      const relaunch = ['serverPath', 'serverArgs', 'provider'].some((key) =>
        event.affectsConfiguration(`${SECTION}.${key}`),
      );
      if (relaunch) {
        await restartClient(context);
      }
    }),
  );
  await startClient(context);
}

export async function deactivate(): Promise<void> {
  if (client?.isRunning()) {
    await client.stop();
  }
}
