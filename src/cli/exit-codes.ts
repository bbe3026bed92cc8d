/**
 * What the CLI's exit codes mean, so that scripts and schedulers can act on them.
 * 65 is sysexits' EX_DATAERR (a corrupt row), 75 its EX_TEMPFAIL: try again later.
 */
export const EXIT = Object.freeze({
  /** Done; for a run: completed or skipped. */
  ok: 0,
  /** A run failed, or a command could not do its job. */
  failure: 1,
  /** Bad arguments or options. */
  usage: 2,
  /** The store could not be opened or reached. */
  store: 3,
  /**
   * sysexits' EX_DATAERR: the report was printed, but a checkpoint row in the store is
   * corrupt (named on stderr); `waymark reset` recovers its partition.
   */
  corrupt: 65,
  /** A run was suspended or found its partition busy: run it again later. */
  tempfail: 75,
});
