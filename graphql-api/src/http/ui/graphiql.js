// Starts GraphiQL against this server: queries and mutations over POST /graphql, subscriptions
// over /graphql/ws. Operator fields need a token: put {"Authorization": "Bearer TOKEN"} in the
// Headers tab; it is sent with every request and in the subscription's connection_init.
(function () {
  "use strict";
  var wsScheme = window.location.protocol === "https:" ? "wss:" : "ws:";
  var httpFetcher = GraphiQL.createFetcher({ url: window.location.origin + "/graphql" });
  var wsUrl = wsScheme + "//" + window.location.host + "/graphql/ws";

  // The toolkit's fetcher does not pass the Headers tab to a WebSocket, so subscriptions get a
  // fetcher of their own per headers, carrying them in connection_init.
  var wsFetchers = {};
  function fetcher(params, options) {
    var isSubscription = /^\s*subscription\b/m.test(params.query || "");
    if (!isSubscription) {
      return httpFetcher(params, options);
    }
    var headers = (options && options.headers) || {};
    var key = JSON.stringify(headers);
    if (!wsFetchers[key]) {
      wsFetchers[key] = GraphiQL.createFetcher({
        url: window.location.origin + "/graphql",
        subscriptionUrl: wsUrl,
        wsConnectionParams: headers,
      });
    }
    return wsFetchers[key](params, options);
  }

  var defaultQuery = [
    "# Welcome to the Fever events API.",
    "#",
    "# Event search is public. Operator data (providers, jobs, outcomes) needs a token:",
    '# add {"Authorization": "Bearer YOUR_TOKEN"} in the Headers tab below.',
    "# The Docs button (top left) lists every type and field.",
    "",
    "query UpcomingEvents {",
    "  events(",
    '    filter: { startsAt: "2021-01-01T00:00:00Z", endsAt: "2031-01-01T00:00:00Z" }',
    "    first: 5",
    "  ) {",
    "    edges {",
    "      node { id title startsAt endsAt minPrice maxPrice provider { name } }",
    "    }",
    "    pageInfo { hasNextPage endCursor }",
    "  }",
    "}",
    "",
  ].join("\n");

  var root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultQuery: defaultQuery,
      defaultEditorToolsVisibility: true,
      isHeadersEditorEnabled: true,
      shouldPersistHeaders: false,
    })
  );
})();
