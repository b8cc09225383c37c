/**
 * Law checkers.
 *
 * @module
 */
export {};
