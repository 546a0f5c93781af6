// A minimal typed client of the dashboard's operations, on fetch.
//
// It shows how the generated documents are meant to be used, and the type
// check of this file fails when a change to schema.graphql or to an
// operation breaks the code that reads the results.
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { print } from 'graphql';

import {
  AccountDetailDocument,
  AccountsNeedingReauthDocument,
  ReauthorizeAccountDocument,
  type IntegratedAccountStatus,
  type UserErrorCode,
} from '../generated/graphql';

export class GraphQLRequestError extends Error {
  constructor(readonly messages: string[]) {
    super(messages.join('; '));
  }
}

// POST one document with the API token and return its data.
export async function request<Result, Variables>(
  url: string,
  token: string,
  document: TypedDocumentNode<Result, Variables>,
  variables: Variables,
): Promise<Result> {
  const response = await fetch(url, {
    method: 'POST',
    headers: {
      accept: 'application/graphql-response+json, application/json;q=0.9',
      authorization: `Bearer ${token}`,
      'content-type': 'application/json',
    },
    body: JSON.stringify({ query: print(document), variables }),
  });
  const body = (await response.json()) as {
    data?: Result | null;
    errors?: { message: string }[];
  };
  if (body.errors?.length || body.data == null) {
    throw new GraphQLRequestError((body.errors ?? []).map((error) => error.message));
  }
  return body.data;
}

export interface StaleAccount {
  id: string;
  label: string;
  status: IntegratedAccountStatus;
  updatedAt: Date;
}

// List the accounts that need reauthorization, newest change first.
export async function staleAccounts(url: string, token: string): Promise<StaleAccount[]> {
  const data = await request(url, token, AccountsNeedingReauthDocument, { first: 25 });
  return data.integratedAccounts.nodes.map((account) => ({
    id: account.id,
    label: `${account.tenantId} (${account.integration.name})`,
    status: account.status,
    updatedAt: new Date(account.updatedAt),
  }));
}

// Return the names of an account's latest events, or null when it is gone.
export async function eventNames(
  url: string,
  token: string,
  id: string,
): Promise<string[] | null> {
  const data = await request(url, token, AccountDetailDocument, { id, eventCount: 10 });
  if (data.node?.__typename !== 'IntegratedAccount') {
    return null;
  }
  return data.node.events.nodes.map((event) => event.name);
}

// Reauthorize an account and return the codes of the problems met.
export async function reauthorize(
  url: string,
  token: string,
  id: string,
): Promise<UserErrorCode[]> {
  const data = await request(url, token, ReauthorizeAccountDocument, { id });
  return data.reauthorizeIntegratedAccount.userErrors.map((error) => error.code);
}
