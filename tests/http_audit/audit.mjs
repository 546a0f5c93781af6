// Run graphql-http's server audits against a running server and print the
// results as one JSON array on stdout.
//
// Usage: node audit.mjs URL
// The API token comes from the GRAPHQL_API_TOKEN environment variable, so
// that it never appears in a process listing.
import { serverAudits } from 'graphql-http';

const url = process.argv[2];
const token = process.env.GRAPHQL_API_TOKEN;
if (!url || !token) {
  console.error('usage: GRAPHQL_API_TOKEN=... node audit.mjs URL');
  process.exit(2);
}

// Adds the bearer token to every request that an audit sends.
function fetchWithToken(input, init = {}) {
  const headers = new Headers(init.headers);
  headers.set('authorization', `Bearer ${token}`);
  return fetch(input, { ...init, headers });
}

async function describe(result) {
  const described = { id: result.id, name: result.name, status: result.status };
  if (result.status !== 'ok') {
    described.reason = result.reason;
    described.responseStatus = result.response.status;
    described.responseBody = (await result.response.text()).slice(0, 500);
  }
  return described;
}

const results = [];
for (const audit of serverAudits({ url, fetchFn: fetchWithToken })) {
  results.push(await describe(await audit.fn()));
}
console.log(JSON.stringify(results));
