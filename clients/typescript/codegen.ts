// GraphQL Code Generator configuration of the typed TypeScript documents.
//
// `npm run codegen` writes them to generated/ (or to CODEGEN_OUTPUT), and
// `npm run typecheck` checks them with src/ under strict TypeScript.
import type { CodegenConfig } from '@graphql-codegen/cli';

const config: CodegenConfig = {
  schema: '../../schema.graphql',
  documents: ['../operations/*.graphql'],
  ignoreNoDocuments: false,
  generates: {
    [process.env.CODEGEN_OUTPUT ?? 'generated/']: {
      preset: 'client',
      config: {
        // DateTime values travel as ISO 8601 strings with a UTC offset, and
        // JSON values are any JSON document.
        scalars: {
          DateTime: 'string',
          JSON: 'unknown',
        },
        enumsAsTypes: true,
        strictScalars: true,
        useTypeImports: true,
      },
      presetConfig: {
        fragmentMasking: false,
      },
    },
  },
};

export default config;
