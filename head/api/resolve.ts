// Which namespace a batch name alone means, among the batches the user may see.
import { SafeName } from '../../shared/protocol/common.js';
import { HttpError } from '../http.js';
import type { Api } from '../../shared/protocol/http-api.js';
import { visibleNamespaces, type Handler } from './route.js';

export const resolve: Handler<Api['resolve']> = {
  handle(call) {
    const batch = call.query.get('batch') ?? '';
    const namespace = call.query.get('namespace');
    if (!SafeName.safeParse(batch).success) throw new HttpError(400, `batch "${batch}" is not a valid batch name`);
    const visible = visibleNamespaces(call);
    const found = call.ctx.store
      .stmt<{ namespace: string }>('SELECT namespace FROM batches WHERE name = ? ORDER BY namespace')
      .all(batch)
      .map((r) => r.namespace)
      .filter((ns) => (visible === null || visible.includes(ns)) && (namespace === null || ns === namespace));
    if (found.length === 0) throw new HttpError(404, `no batch ${batch}${namespace ? ` in namespace ${namespace}` : ''} that you can see`);
    if (found.length > 1) throw new HttpError(409, `batch ${batch} exists in namespaces ${found.join(', ')}; name one with --namespace`, { namespaces: found });
    call.reply({ namespace: found[0]!, batch });
  },
};
