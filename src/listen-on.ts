/**
 * Starts a server listening, and turns a busy or forbidden port into an error that says which port
 * and what to do, instead of a crash further on.
 */
import type { Server } from "node:net";
import { KeyturnError } from "./core/errors.js";

export async function listenOn(
  server: Server,
  port: number,
  host: string,
  what: { readonly name: string; readonly setting: string },
): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    const failed = (e: NodeJS.ErrnoException) => reject(portError(e, port, host, what));
    server.once("error", failed);
    server.listen(port, host, () => {
      server.off("error", failed);
      resolve();
    });
  });
  const address = server.address();
  if (address === null || typeof address === "string")
    throw new KeyturnError("internal", `${what.name} is not listening on ${host}:${port}.`);
  return address.port;
}

function portError(
  e: NodeJS.ErrnoException,
  port: number,
  host: string,
  what: { name: string; setting: string },
) {
  if (e.code === "EADDRINUSE")
    return new KeyturnError(
      "config_invalid",
      `${what.name} cannot listen on ${host}:${port}: another process is using that port. Stop the other process (\`lsof -i :${port}\` or \`ss -ltnp | grep :${port}\` shows which), or set ${what.setting} to a free port (${what.setting}=0 picks one).`,
      { port },
      { cause: e },
    );
  if (e.code === "EACCES")
    return new KeyturnError(
      "config_invalid",
      `${what.name} may not listen on ${host}:${port} (ports below 1024 need privileges). Set ${what.setting} to a port above 1024.`,
      { port },
      { cause: e },
    );
  if (e.code === "EADDRNOTAVAIL")
    return new KeyturnError(
      "config_invalid",
      `${what.name} cannot listen on ${host}: no network interface of this machine has that address. Set HOST to one it has (127.0.0.1, or 0.0.0.0 for all).`,
      { port },
      { cause: e },
    );
  return e;
}
