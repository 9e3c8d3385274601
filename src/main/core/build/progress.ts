/** A step of a slow build (image, agent), for progress bars in CLI, API and UI. */
export interface BuildProgress {
  step: string;
  message: string;
  /** 0..1 over the whole build, when it can be known. */
  fraction?: number;
}

export type ProgressListener = (event: BuildProgress) => void;
