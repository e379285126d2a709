// A head HTTP server that serves only the dashboard, over a real store in a temp state dir:
// for the dashboard's module tests (HTTP and browser), before and beside the real head.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { openStore, type Store } from '../../../head/store.js';
import { Dashboard } from '../../../head/dashboard/index.js';
import { silentLogger } from '../../../shared/log.js';
import { tempDir } from '../../helpers/cli.js';

export interface DashboardServer {
  base: string;
  store: Store;
  dash: Dashboard;
  stateDir: string;
  /** cuts every open connection, as a network blip or a head restart would */
  dropConnections(): void;
  close(): void;
}

export async function startDashboardServer(): Promise<DashboardServer> {
  const t = tempDir('distribute-dash-');
  const store = openStore(t.dir);
  const dash = new Dashboard({ store, stateDir: t.dir, log: silentLogger() });
  const server: Server = createServer((req, res) => {
    if (!dash.handle(req, res)) res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    store,
    dash,
    stateDir: t.dir,
    dropConnections() {
      server.closeAllConnections();
    },
    close() {
      dash.close();
      server.closeAllConnections();
      server.close();
      store.close();
      t.cleanup();
    },
  };
}
