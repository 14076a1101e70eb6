package train

import (
	"fmt"
	"slices"
	"strings"

	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"genmod/internal/safetensors"
	"genmod/models"
)

// loadTeacher copies the weights of the teacher run's newest checkpoint (its
// EMA weights when it kept them) into the student's variables and into a
// frozen copy under /teacher, so that distillation starts from the teacher.
func loadTeacher(store *model.Store, dir string) error {
	run, err := OpenRun(dir)
	if err != nil {
		return fmt.Errorf("teacher: %w", err)
	}
	cks, err := listCheckpoints(run.CheckpointDir())
	if err != nil || len(cks) == 0 {
		return fmt.Errorf("teacher %s has no checkpoint", dir)
	}
	f, err := safetensors.ReadFile(cks[0].path)
	if err != nil {
		return fmt.Errorf("teacher: %w", err)
	}
	byName := map[string]safetensors.Tensor{}
	for _, t := range f.Tensors {
		byName[t.Name] = t
	}
	prefix := ""
	for name := range byName {
		if strings.HasPrefix(name, emaScope+"/") {
			prefix = emaScope + "/"
		}
	}
	var student []*model.Variable
	for v := range store.IterVariables() {
		if strings.HasPrefix(v.Path(), "/"+models.TeacherScope+"/") {
			v.SetTrainable(false)
		} else if v.Trainable {
			student = append(student, v)
		}
	}
	if len(student) == 0 {
		return fmt.Errorf("teacher: the student has no trainable variables")
	}
	for _, v := range student {
		name := strings.TrimPrefix(v.Path(), "/")
		t, ok := byName[prefix+name]
		if !ok {
			return fmt.Errorf("teacher %s has no weight %s: is it the same model with the same options?", dir, name)
		}
		if !slices.Equal(t.Shape, v.Shape().Dimensions) {
			return fmt.Errorf("teacher weight %s has shape %v, the student's is %v", name, t.Shape, v.Shape().Dimensions)
		}
		dt, ok := dtypeFromName(t.DType)
		if !ok || dt != v.Shape().DType {
			return fmt.Errorf("teacher weight %s has dtype %s, the student's is %s", name, t.DType, v.Shape().DType)
		}
		for _, path := range []string{v.Path(), "/" + models.TeacherScope + v.Path()} {
			value := tensors.FromShape(shapes.Make(dt, t.Shape...))
			if err := value.MutableBytes(func(b []byte) { copy(b, t.Data) }); err != nil {
				return err
			}
			target := store.GetVariable(path)
			if target == nil {
				return fmt.Errorf("the student's loss never read the teacher's %s", path)
			}
			if err := target.SetValue(value); err != nil {
				return fmt.Errorf("teacher weight %s: %w", name, err)
			}
		}
	}
	return nil
}
