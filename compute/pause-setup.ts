// The pause machinery of a compute daemon, from compute.yaml: the controller (max_pause,
// vacate_after), the control socket (control_socket, control_group) and the idle policy.
//
// Where the socket goes: `control_socket` when set (relative to the config file); else, under
// systemd, `control.sock` in the unit's RuntimeDirectory (systemd passes it as
// $RUNTIME_DIRECTORY; the unit's is /run/distribute, where the CLI looks by default); else
// there is no socket, and the daemon says so — several daemons of a test or a `distribute
// up` never fight over one system path.
import { join } from 'node:path';
import type { ComputeConfig } from '../shared/config.js';
import { resolveFrom } from '../shared/config.js';
import type { Logger } from '../shared/log.js';
import { startControlServer, type ControlServer } from './control-socket.js';
import { IdleMonitor } from './idle.js';
import { PauseController } from './pause.js';

export interface PauseMachinery {
  controller: PauseController;
  socket: ControlServer | null;
  idle: IdleMonitor | null;
  stop(): Promise<void>;
}

export function controlSocketPath(config: ComputeConfig, configFile: string | null, env: NodeJS.ProcessEnv = process.env): string | null {
  if (config.control_socket) return configFile ? resolveFrom(configFile, config.control_socket) : config.control_socket;
  const runtime = env.RUNTIME_DIRECTORY?.split(':')[0];
  return runtime ? join(runtime, 'control.sock') : null;
}

export async function startPauseMachinery(config: ComputeConfig, configFile: string | null, node: string, logger: Logger): Promise<PauseMachinery> {
  const log = logger.child({ node });
  const controller = new PauseController({ maxPauseMs: config.max_pause, vacateAfterMs: config.vacate_after ?? null, logger: log });
  const idle = config.idle_policy ? new IdleMonitor({ policy: config.idle_policy, controller, jobGroups: () => controller.groups(), logger: log }) : null;
  const path = controlSocketPath(config, configFile);
  let socket: ControlServer | null = null;
  if (path) {
    socket = await startControlServer({ path, group: config.control_group, node, controller, logger: log, ...(idle ? { idleStatus: () => idle.status() } : {}) });
  } else {
    log.info({ event: 'no_control_socket' }, 'no control_socket set: `distribute pause` cannot reach this daemon');
  }
  idle?.start();
  return {
    controller,
    socket,
    idle,
    stop: async () => {
      idle?.stop();
      controller.close();
      await socket?.close();
    },
  };
}
