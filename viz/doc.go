// Package viz draws what a generative model produces, as PNG files: grids
// of sample images, 2D scatter plots of data against samples, heat maps of a
// 2D density, and training curves. It works on plain Go slices (float32
// images and points, as a model's tensors flatten to) and knows nothing of
// the engine that made them.
//
//   - ImageGrid lays out NHWC images in [0, 1] as tiles, optionally with a
//     title and a label left of each row (class names for a
//     class-conditional model, one row per class).
//   - Scatter and ScatterPanels plot 2D point sets, overlaid or side by
//     side with shared limits, with equal aspect and small translucent
//     points that stay readable at thousands of points.
//   - Density and DensityGrid draw exp(log p) on a grid; Grid.Points gives
//     the cell centres as one batch for a model to score.
//   - Curves draws loss-like curves, optionally on a log axis and smoothed;
//     CurvesFromJSONL reads them from a metrics log.
//
// Every file is written atomically (genmod/internal/fsutil): on any error
// nothing new is left at the path and an existing file is untouched. Input
// is checked before anything is drawn, and a wrong shape or option is an
// error that says what was expected.
//
// Non-finite values are shown, not hidden and not fatal, so a diverged run
// still gets its pictures: NaN pixels are drawn magenta; NaN or infinite
// points and curve values are dropped and counted in the legend ("12
// non-finite dropped"); NaN density cells are grey and counted in the
// title. A density that is +Inf somewhere, or has no finite value, is an
// error, as is a plot with nothing to draw at all (Curves).
//
// Each function has an Encode variant that writes the PNG to an io.Writer
// instead of a file, for example to answer an HTTP request.
package viz
