/** Jest with @swc/jest: type checking is its own step (`npm run typecheck`). */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.(t|j)sx?$': ['@swc/jest', { jsc: { target: 'es2023', parser: { syntax: 'typescript' } }, module: { type: 'commonjs' } }] },
  // ESM-only dependencies that Jest's CommonJS runtime must have compiled (light-my-request's `cookie` 2).
  // Jest loads ESM natively only under --experimental-vm-modules; compiling them keeps the runtime stable.
  transformIgnorePatterns: [
    '/node_modules/(?!(cookie|@kubernetes/client-node|openid-client|oauth4webapi|jose|socks-proxy-agent|agent-base|rfc4648|jsonpath-plus)/)',
  ],
  testTimeout: 60000,
  maxWorkers: 2,
};
