/**
 * What `modelyard serve` measures, answered at `GET /metrics` in the Prometheus text format (version 0.0.4) on the
 * port of the V2 API: the figures a KServe or Triton user charts, under Modelyard's names and, where they cost nothing
 * more, Triton's.
 *
 *   modelyard_inference_requests_total{model,version,status}   counter: inference requests answered; status
 *                                                                "success" (200) or "failure" (4xx or 5xx)
 *   modelyard_request_duration_seconds{model,version}          histogram: arrival to answer of successful requests
 *   modelyard_inference_duration_seconds{model,version}        histogram: the run of the model (the inference
 *                                                                worker's round trip) that answered each request
 *   modelyard_queue_duration_seconds{model,version}            histogram: how long each request waited for a run
 *                                                                in flight before its own run began
 *   modelyard_batch_size{model,version}                        histogram: rows per run of the model
 *   nv_inference_request_success / _failure                    Triton's counters of requests
 *   nv_inference_count / nv_inference_exec_count               Triton's: rows inferred, runs of the model
 *   nv_inference_request_duration_us / nv_inference_queue_duration_us / nv_inference_compute_infer_duration_us
 *                                                                Triton's cumulative microseconds
 *
 * Every figure is a number kept in this object; a request adds to them without allocating (Histogram.observe). The
 * text is made when /metrics is asked for.
 */
import { BATCH_BUCKETS, DURATION_BUCKETS, Histogram, escapeHelp, labelText, type HistogramSnapshot } from './prometheus';

/** A ServeMetrics' figures, plain: what each server process sends when `--processes` adds them up. */
export interface MetricsSnapshot {
  success: number;
  failure: number;
  runs: number;
  rows: number;
  requestDuration: HistogramSnapshot;
  inferenceDuration: HistogramSnapshot;
  queueDuration: HistogramSnapshot;
  batchSize: HistogramSnapshot;
}

export class ServeMetrics {
  success = 0;
  failure = 0;
  /** Runs of the model, and the rows they inferred. */
  runs = 0;
  rows = 0;
  readonly requestDuration = new Histogram(DURATION_BUCKETS);
  readonly inferenceDuration = new Histogram(DURATION_BUCKETS);
  readonly queueDuration = new Histogram(DURATION_BUCKETS);
  readonly batchSize = new Histogram(BATCH_BUCKETS);
  private readonly labels: string;

  constructor(model: string, version: string) {
    this.labels = labelText({ model, version });
  }

  snapshot(): MetricsSnapshot {
    return {
      success: this.success,
      failure: this.failure,
      runs: this.runs,
      rows: this.rows,
      requestDuration: this.requestDuration.snapshot(),
      inferenceDuration: this.inferenceDuration.snapshot(),
      queueDuration: this.queueDuration.snapshot(),
      batchSize: this.batchSize.snapshot(),
    };
  }

  /** Adds another process's figures to these. */
  add(s: MetricsSnapshot): void {
    this.success += s.success;
    this.failure += s.failure;
    this.runs += s.runs;
    this.rows += s.rows;
    this.requestDuration.add(s.requestDuration);
    this.inferenceDuration.add(s.inferenceDuration);
    this.queueDuration.add(s.queueDuration);
    this.batchSize.add(s.batchSize);
  }

  /** A successful inference request, answered `seconds` after it arrived. */
  requestSucceeded(seconds: number): void {
    this.success++;
    this.requestDuration.observe(seconds);
  }

  /** An inference request answered with an error (4xx or 5xx). */
  requestFailed(): void {
    this.failure++;
  }

  /** A successful run of the model over `rows` rows. */
  run(rows: number): void {
    this.runs++;
    this.rows += rows;
    this.batchSize.observe(rows);
  }

  /** One request's share of a run: how long it waited, and the run's time. */
  request(queueSeconds: number, computeSeconds: number): void {
    this.queueDuration.observe(queueSeconds);
    this.inferenceDuration.observe(computeSeconds);
  }

  /** The text of GET /metrics. */
  render(): string {
    const l = this.labels;
    const head = (name: string, type: string, help: string) => `# HELP ${name} ${escapeHelp(help)}\n# TYPE ${name} ${type}\n`;
    const us = (seconds: number) => Math.round(seconds * 1e6);
    return (
      head('modelyard_inference_requests_total', 'counter', 'Inference requests answered, by outcome: success (200) or failure (4xx or 5xx).') +
      `modelyard_inference_requests_total{${l},status="success"} ${this.success}\n` +
      `modelyard_inference_requests_total{${l},status="failure"} ${this.failure}\n` +
      head('modelyard_request_duration_seconds', 'histogram', 'Time from the arrival of a successful inference request to its answer, in seconds.') +
      this.requestDuration.lines('modelyard_request_duration_seconds', l) +
      head('modelyard_inference_duration_seconds', 'histogram', 'Time of the run of the model that answered each request (the inference worker\'s round trip), in seconds.') +
      this.inferenceDuration.lines('modelyard_inference_duration_seconds', l) +
      head('modelyard_queue_duration_seconds', 'histogram', 'Time each request waited for a run in flight before its own run began, in seconds.') +
      this.queueDuration.lines('modelyard_queue_duration_seconds', l) +
      head('modelyard_batch_size', 'histogram', 'Rows per run of the model (requests batched along dim 0).') +
      this.batchSize.lines('modelyard_batch_size', l) +
      head('nv_inference_request_success', 'counter', 'Number of successful inference requests, all batch sizes') +
      `nv_inference_request_success{${l}} ${this.success}\n` +
      head('nv_inference_request_failure', 'counter', 'Number of failed inference requests, all batch sizes') +
      `nv_inference_request_failure{${l}} ${this.failure}\n` +
      head('nv_inference_count', 'counter', 'Number of inferences performed (does not include cached requests)') +
      `nv_inference_count{${l}} ${this.rows}\n` +
      head('nv_inference_exec_count', 'counter', 'Number of model executions performed (does not include cached requests)') +
      `nv_inference_exec_count{${l}} ${this.runs}\n` +
      head('nv_inference_request_duration_us', 'counter', 'Cumulative inference request duration in microseconds (includes cached requests)') +
      `nv_inference_request_duration_us{${l}} ${us(this.requestDuration.sum)}\n` +
      head('nv_inference_queue_duration_us', 'counter', 'Cumulative inference queuing duration in microseconds (includes cached requests)') +
      `nv_inference_queue_duration_us{${l}} ${us(this.queueDuration.sum)}\n` +
      head('nv_inference_compute_infer_duration_us', 'counter', 'Cumulative compute inference duration in microseconds (does not include cached requests)') +
      `nv_inference_compute_infer_duration_us{${l}} ${us(this.inferenceDuration.sum)}\n`
    );
  }
}
