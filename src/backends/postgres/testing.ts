export type { PostgresTestEnvironment } from '../../testing/postgres/environment.js'
export { describePostgresRegistry } from '../../testing/postgres/suite.js'
