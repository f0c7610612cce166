/** Unit tests of the pure modules (no DOM, no JupyterLab): plain Node + ts-jest. */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/src'],
  testMatch: ['**/__tests__/*.test.ts'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: { module: 'commonjs', types: ['jest', 'node'], strict: true, esModuleInterop: true } }]
  }
};
