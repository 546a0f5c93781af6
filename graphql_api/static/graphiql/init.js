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

  const fetcher = GraphiQL.createFetcher({
    url: endpoint.href,
    subscriptionUrl: socketEndpoint.href,
  });
  const element = React.createElement(GraphiQL, {
    fetcher,
    defaultHeaders: JSON.stringify({ Authorization: 'Bearer <token>' }, null, 2),
    defaultEditorToolsVisibility: 'headers',
    // Keep API tokens out of the browser's local storage.
    shouldPersistHeaders: false,
  });
  ReactDOM.createRoot(document.getElementById('graphiql')).render(element);
})();
