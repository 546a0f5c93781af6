// Mount GraphiQL on the page that /graphql serves to browsers.
//
// Queries and mutations go to this page's own URL over HTTP, and
// subscriptions to the same URL over WebSocket (graphql-transport-ws). The
// Headers tab is sent with every HTTP request and as the `connection_init`
// payload, so one {"Authorization": "Bearer ..."} entry serves both.
(function mountGraphiQL() {
  const endpoint = new URL(window.location.pathname, window.location.href);
  const socketEndpoint = new URL(endpoint);
  socketEndpoint.protocol = endpoint.protocol === 'https:' ? 'wss:' : 'ws:';

  // A shared link such as /graphql?query=...&variables=... opens with its
  // operation in the editors.
  const params = new URLSearchParams(window.location.search);
  const fetcher = GraphiQL.createFetcher({
    url: endpoint.href,
    subscriptionUrl: socketEndpoint.href,
  });
  const element = React.createElement(GraphiQL, {
    fetcher,
    defaultHeaders: JSON.stringify({ Authorization: 'Bearer <token>' }, null, 2),
    defaultEditorToolsVisibility: 'headers',
    query: params.get('query') ?? undefined,
    variables: params.get('variables') ?? undefined,
    operationName: params.get('operationName') ?? undefined,
    // Keep API tokens out of the browser's local storage.
    shouldPersistHeaders: false,
  });
  ReactDOM.createRoot(document.getElementById('graphiql')).render(element);
})();
